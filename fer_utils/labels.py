"""What every face of FER2013 is: a grey 48x48 image with one of seven emotions, in one of three splits. Nothing
heavy is imported here, so that any module may name the classes and the image size."""

CLASS_NAMES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
IMAGE_SIDE = 48
N_PIXELS = IMAGE_SIDE * IMAGE_SIDE
SPLITS = ("train", "val", "test")
