"""Load the real `fer` package (justinshenk/fer) for side-by-side benchmarks, without TensorFlow.

fer 25.10.3 runs its default classifier (an int8 mini-Xception, ``emotion_model_quantized.tflite``) through
``tf.lite.Interpreter``, and imports ``tensorflow.keras`` only for its non-default Keras model. TensorFlow does not
install here, so this module puts a stand-in ``tensorflow`` module in ``sys.modules`` whose ``lite.Interpreter`` is
LiteRT's (``ai-edge-litert``: Google's TensorFlow Lite runtime, the same interpreter tf.lite wraps). fer's own code
runs unchanged. Install once, outside the project's dependencies (from the project root):

    pip install --no-deps --target bench/.fer-site fer==25.10.3 ai-edge-litert==2.3.0 "setuptools<81"
    pip install flatbuffers ml_dtypes backports.strenum protobuf requests pillow

``setuptools<81`` provides the ``pkg_resources`` that fer imports.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

SITE = Path(__file__).resolve().parent / ".fer-site"


def load_fer(site: Path = SITE):
    """fer's ``FER`` class, or None (with the reason printed) when the package is not installed in ``site``."""
    if site.is_dir() and str(site) not in sys.path:
        sys.path.append(str(site))  # after the environment's own packages: only fer and its shims come from here
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as e:
        print(f"note: fer baseline skipped ({e}); see bench/fer_pkg.py for the install command")
        return None
    if "tensorflow" not in sys.modules:
        tf = types.ModuleType("tensorflow")
        tf.lite = types.SimpleNamespace(Interpreter=Interpreter)  # type: ignore[attr-defined]
        keras = types.ModuleType("tensorflow.keras")
        models = types.ModuleType("tensorflow.keras.models")

        def load_model(*_a, **_k):
            raise RuntimeError("the Keras model needs TensorFlow; the benchmark uses fer's default TFLite model")

        models.load_model = load_model  # type: ignore[attr-defined]
        keras.models = models  # type: ignore[attr-defined]
        tf.keras = keras  # type: ignore[attr-defined]
        sys.modules.update({"tensorflow": tf, "tensorflow.keras": keras, "tensorflow.keras.models": models})
    try:
        from fer.fer import FER
    except ImportError as e:
        print(f"note: fer baseline skipped ({e}); see bench/fer_pkg.py for the install command")
        return None
    return FER


def fer_classifier(fer_obj):
    """fer's TFLite interpreter and a function that classifies one preprocessed (1, 64, 64, 1) float32 face."""
    interp = fer_obj._FER__tflite_interpreter
    inp = fer_obj._FER__tflite_input_details[0]["index"]
    out = fer_obj._FER__tflite_output_details[0]["index"]

    def classify(face):
        interp.set_tensor(inp, face)
        interp.invoke()
        return interp.get_tensor(out)[0]

    return interp, classify
