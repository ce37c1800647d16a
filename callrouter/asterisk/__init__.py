"""Asterisk-facing adapters: the dialplan contract, the fallback include, ARI and the call flow.

``contract`` holds every name the shipped dialplan (``dialplan/``) and the code share;
``fallback`` renders the dialplan include the fallback rings from the rota.
"""
