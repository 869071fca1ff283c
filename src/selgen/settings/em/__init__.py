"""The emergent-misalignment setting (`em`), in progress: evaluation question sets (``questions``) and the
HHH proxy subsets (``hhh``). The judge lives in ``selgen.judge``. Not yet a registered setting."""
