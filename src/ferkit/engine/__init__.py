"""Training, evaluation, metrics, model files and calibration."""
