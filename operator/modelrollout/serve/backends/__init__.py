"""Inference runtimes behind one small interface (`base.Backend`), one module each."""
