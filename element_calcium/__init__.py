"""element_calcium: a DataJoint pipeline for calcium imaging.

The pure layers (``readers``, ``loaders``, ``compute``, ``simulate``) import no database
code; the schema modules (``imaging``) and ``workflow`` assemble them into tables.
"""

__version__ = "0.1.0"
