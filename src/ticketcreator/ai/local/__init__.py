"""The ``local`` AI provider: offline triage with MiniLM embeddings and linear models.

The package imports nothing itself: its modules are imported where they are used, so that a
process needing only the encoder's dimension (the triage tables) does not load the training
libraries (scikit-learn: 2 s). Typical use by the service (one encoder per worker process,
loaded once; ``triage_encoder`` and ``LearnedTriage`` are in :mod:`.triage`)::

    encoder = triage_encoder(ModelStore(models_dir).path("minilm"))
    vectors = encoder.encode([ticket_text(subject, body)])
    model = LearnedTriage.from_bytes(stored_blob)        # or ZeroShotTriage(encoder, labels)
    predictions = model.predict([text], vectors)[0]       # {"category": Prediction, ...}
"""
