+ MAYAVERSION:2023 dccfutures 0.1.0 .
PYTHONPATH +:= python
MAYA_SHELF_PATH +:= shelves
+ MAYAVERSION:2024 dccfutures 0.1.0 .
PYTHONPATH +:= python
MAYA_SHELF_PATH +:= shelves
+ MAYAVERSION:2025 dccfutures 0.1.0 .
PYTHONPATH +:= python
MAYA_SHELF_PATH +:= shelves
+ MAYAVERSION:2026 dccfutures 0.1.0 .
PYTHONPATH +:= python
MAYA_SHELF_PATH +:= shelves
