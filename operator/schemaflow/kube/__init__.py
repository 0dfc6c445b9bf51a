"""The Kubernetes operator: it knows nothing of SQL beyond the Job's JSON result."""
