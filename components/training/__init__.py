"""Training components: Horovod data-parallel Keras training and Optuna search."""
