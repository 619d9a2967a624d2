"""Several netnode nodes sharing one store: who they are and whether each is alive
(``liveness``, pure), how a node says so (``membership``: its row and heartbeat, its
advisory lock on PostgreSQL), and the nodes as ``netnode nodes`` and the API show them
(``nodes``). Coordination goes through the store, never a protocol of netnode's own."""
