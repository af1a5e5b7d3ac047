"""The cluster tier: real etcd members (and, later, several kubelite servers) with faults."""
