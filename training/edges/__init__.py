"""Edge detection for the engine's third task (:mod:`training.tasks.edges`): BSDS500 data and
augmentation (:mod:`.data`), HED's class-balanced loss and a cheap F-measure (:mod:`.metrics`), and
thinning of probability maps into one-pixel edges (:mod:`.thin`)."""
