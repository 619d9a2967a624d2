"""Moved to ``netnode.lab.postgres`` (``netnode demo --ha`` starts one too); this name
stays for the tests that import it from here."""

from netnode.lab.postgres import *  # noqa: F403
from netnode.lab.postgres import Cluster, available, private_cluster, restartable_cluster  # noqa: F401
