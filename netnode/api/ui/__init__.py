"""The live status page, ``/ui/``: server-rendered HTML (``page.py``) from what a caller
may see (``state.py``), refreshed in place by a small plain script (``ui.js``) that
polls ``/ui/state``; the routes and the page's sign-in (``routes.py``)."""
