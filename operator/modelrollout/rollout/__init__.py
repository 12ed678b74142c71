"""The pure decision core: no I/O, no clock of its own, no Kubernetes client.

`machine.decide(spec, status, observations)` returns the next status and the actions
for the shell to carry out. Everything here is a function of its arguments.
"""
