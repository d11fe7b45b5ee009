"""Face detectors for sets that are not face crops: MTCNN (the default, onnxruntime) and OpenCV's Haar cascade."""
