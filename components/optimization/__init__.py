"""Model optimization for serving: pruning, TFLite quantization and ONNX export."""
