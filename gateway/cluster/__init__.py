"""A cluster of equal gateway nodes on one PostgreSQL database (DESIGN.md "One node or a
cluster"): the event log read in the cluster's order, node leases, session claims, and
commands routed to the node that holds a unit's session."""
