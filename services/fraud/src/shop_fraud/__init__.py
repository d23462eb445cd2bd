"""The shop fraud service: scores purchases, keeps velocity counters, holds the review queue."""
