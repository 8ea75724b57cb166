"""The original's ``litellm.extras`` import paths that scillm keeps (see :mod:`.batch`)."""
