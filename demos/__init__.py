"""cvzoo's demos: a Gradio app (``python -m demos.app``) and a Streamlit dashboard
(``streamlit run demos/dashboard.py``), both thin layers over the plain functions in
:mod:`demos.callbacks`, which import no UI library and are tested directly."""
