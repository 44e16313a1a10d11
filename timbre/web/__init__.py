"""The browser page: build the static site (:mod:`timbre.web.site`), serve it on localhost
(:mod:`timbre.web.server`) and drive it in headless Chromium (:mod:`timbre.web.browser`, for
the tests and the benchmark). The page's own code is ``web/`` in the source tree: a port of
:mod:`timbre.dsp` and of the converter's chain to JavaScript, the generator on ONNX Runtime Web.
"""
