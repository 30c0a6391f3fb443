"""The fake Fly.io: Machines API, GraphQL/logs API, and the fake ``fly`` CLI."""
