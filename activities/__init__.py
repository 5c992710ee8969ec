"""Side effects of kworkflow steps: one module per activity kind, one @activity.defn each."""
