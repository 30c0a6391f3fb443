"""The fake RunPod: REST and GraphQL control plane, serverless runtime, and their shared world."""
