"""Training of the scoring model: a synthetic data set (`generate`) and the fit (`train`)."""
