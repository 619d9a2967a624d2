#!/bin/sh
# keepalived's vrrp_notify_fifo_script, written by netnode: the last VRRP
# state of each instance, as 'STATE PRIORITY' in role.<instance>.
dir='/var/lib/netnode/keepalived/lb-1111'
for fifo; do :; done  # the last argument
# keepalived starts a new reader at every reload: its pid says one happened.
printf '%s\n' "$$" >"$dir/.notify.pid.tmp" &&
    mv -f "$dir/.notify.pid.tmp" "$dir/notify.pid"
while read -r kind name state priority; do
    [ "$kind" = INSTANCE ] || continue
    name=${name#\"}
    name=${name%\"}
    case $name in ""|.*|*[!A-Za-z0-9_.-]*) continue ;; esac
    case $state in MASTER|BACKUP|FAULT|STOP|DELETED) ;; *) continue ;; esac
    printf '%s %s\n' "$state" "$priority" >"$dir/.role.$name.tmp" &&
        mv -f "$dir/.role.$name.tmp" "$dir/role.$name"
done <"$fifo"
