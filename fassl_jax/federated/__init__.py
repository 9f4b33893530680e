"""Federated round: client updates mapped over a cohort, aggregation, server optimizer."""
