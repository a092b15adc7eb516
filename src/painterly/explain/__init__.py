"""For teaching: the paper's Figure 1 (``figure``) and texture synthesis (``texture``), and
their commands (``cli``: ``painterly explain`` and ``painterly texture``)."""

from .figure import figure1, reconstruct_content, synthesize_style
from .texture import Texture, synthesize_texture

__all__ = ["Texture", "figure1", "reconstruct_content", "synthesize_style", "synthesize_texture"]
