//! sauvegarde
