"""The fault suite (``make faults``): every loss and leak case of issue 13 replayed against
real ``qbsync gateway`` and ``qbsync worker`` processes on a real broker; one JSON object."""
