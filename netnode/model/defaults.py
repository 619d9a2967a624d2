"""What a command assumes when it is not told: here, apart from the modules that use it,
so that the command line offers it without importing them (``ids`` imports uuid,
``loading`` pydantic)."""

# The node a command acts as when none is named (``--node``, env NETNODE_NODE).
DEFAULT_NODE = "netnode"
