"""Test harness for the operator: a Kubernetes API emulator (kmock subclass) that behaves
enough like an API server for kopf, a fake kubelet + Job controller that runs migration Jobs
as local processes, and a thread that runs the real operator against both."""
