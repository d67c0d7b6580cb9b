"""Protocol drivers, one package per brand. TCP drivers are sans-IO."""
