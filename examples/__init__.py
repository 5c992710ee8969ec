"""kworkflow's examples: the sample tools (``examples.tools``) and the reference templates."""
