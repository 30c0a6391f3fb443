"""pydantic models: requests in, normalised resources out."""

from .catalog import Availability, GpuType, Offer
from .compute import (
    FINAL_COMPUTE_STATUSES,
    AuthHandle,
    Compute,
    ComputeRequest,
    ComputeStatus,
    Port,
    PortSpec,
    parse_port,
)
from .job import FAILED_JOB_STATUSES, TERMINAL_JOB_STATUSES, Job, JobRequest, JobStatus
from .logs import LogEntry

__all__ = [
    "FAILED_JOB_STATUSES",
    "FINAL_COMPUTE_STATUSES",
    "TERMINAL_JOB_STATUSES",
    "AuthHandle",
    "Availability",
    "Compute",
    "ComputeRequest",
    "ComputeStatus",
    "GpuType",
    "Job",
    "JobRequest",
    "JobStatus",
    "LogEntry",
    "Offer",
    "Port",
    "PortSpec",
    "parse_port",
]
