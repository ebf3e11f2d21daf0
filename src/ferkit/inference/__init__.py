"""Inference: face detection, the face-crop path, classifier backends, the Predictor, and video."""
