"""The emulated SmartOS commands, one module or package per tool (see ``tools.TOOLS``)."""
