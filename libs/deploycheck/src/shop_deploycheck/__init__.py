"""Checks for the deployment artefacts (Helm chart, manifests, images) that need no cluster."""
