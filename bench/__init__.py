"""schemaflow's benchmarks: 000027 online-safe vs a naive single transaction under an
application workload, and the operator's overhead. Entry point: ``python -m bench``."""
