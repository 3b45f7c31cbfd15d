"""The development process supervisor: not part of the product.

`make run`, `make shell`, `make scale-demo`, the benchmarks and the end-to-end tests start the
product's processes (Rasa, the action server, the gateway, the answer services, nginx) through
`devstack.stack` and `devstack.scale`. A production deployment uses deploy/ instead and never
imports this package.
"""
