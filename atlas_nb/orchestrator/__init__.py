"""The orchestrator: tracked computes, idle/deadline/cost guards, the reaper."""
