"""The host's firewall rules: their language (``language``) and storage (``store``).

The data plane compiles them into each VM's packet filter
(``state.network.firewall``); ``commands.fwadm`` is the command that edits them.
"""
