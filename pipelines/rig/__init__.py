"""Built-in auto-rigging: skeleton extraction, humanoid fitting, bone-heat skinning, skinned GLB/FBX."""
