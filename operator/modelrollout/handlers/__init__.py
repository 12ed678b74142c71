"""The thin shell: Kopf registrations and the reconcile pass that reads, decides and writes."""
