"""shopctl: status, canary promotion/abort and migrations for a shop release on Kubernetes."""
