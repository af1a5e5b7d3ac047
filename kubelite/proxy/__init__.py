"""Service networking on each node: the Service proxy (``proxier``, ClusterIPs and
NodePorts through iptables), the cluster DNS server (``dns``) and the view of Services and
EndpointSlices both read (``view``). The node agent runs them (``kubelite.agent.runner``)."""
