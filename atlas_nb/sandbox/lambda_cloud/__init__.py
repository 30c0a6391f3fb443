"""The fake Lambda Cloud API and its instance-type catalog."""
