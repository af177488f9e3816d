//! The figure registry: one module per figure id, declared once in [`crate::figure_list!`], from which
//! the module declarations, [`registry`], [`ALL_IDS`] and the per-figure golden tests are generated.

pub mod phase;
pub mod surrogate_views;
pub mod theory;

use crate::figure::DynFigure;

/// The list of figures, in presentation order: `module::Type` per figure, with the reason in brackets
/// when its golden test needs something beyond the repository (the test is then ignored unless asked
/// for). Passes the list to the macro `$callback` (this crate's registry, the golden tests).
/// Adding a figure is one line here.
#[macro_export]
macro_rules! figure_list {
    ($callback:ident) => {
        $callback! {
            glpr_fig1::GlprFig1 ["needs models/minilm: cargo xtask fetch-model"],
            glpr_fig2::GlprFig2,
            glpr_fig3::GlprFig3,
            glpr_fig4::GlprFig4,
            glpr_fig5::GlprFig5,
            glpr_fig6::GlprFig6,
            bkkrw_fig1::BkkrwFig1,
            bkkrw_fig2::BkkrwFig2,
            bkkrw_fig3::BkkrwFig3,
            bkkrw_fig4::BkkrwFig4,
            bkkrw_fig5::BkkrwFig5,
            bkkrw_fig6::BkkrwFig6,
            bkkrw_fig7::BkkrwFig7,
            integrators_work_precision::IntegratorsWorkPrecision,
            circle_sync::CircleSync,
            long_context::LongContext,
            lost_in_middle::LostInMiddleFigure,
            causal_renyi::CausalRenyi,
            metastability_staircase::MetastabilityStaircase,
            normalization_rates::NormalizationRates,
            emergence_leaders::EmergenceLeaders,
            hardmax_cells::HardmaxCells,
            meanfield_modes::MeanfieldModes,
            meanfield_pde::MeanfieldPde,
            noisy_transition::NoisyTransition,
        }
    };
}

/// Declares the figure modules and the registry from [`crate::figure_list!`].
macro_rules! register_figures {
    ($($module:ident :: $figure:ident $([$needs:literal])?),* $(,)?) => {
        $(pub mod $module;)*

        /// Every figure, in presentation order.
        static REGISTRY: &[&dyn DynFigure] =
            &[$(&crate::figure::Registered::<$module::$figure>::new()),*];

        /// Every figure id of the two papers, in presentation order.
        pub const ALL_IDS: &[&str] =
            &[$(<$module::$figure as crate::figure::Figure>::META.id),*];
    };
}

crate::figure_list!(register_figures);

/// Every figure, in presentation order.
pub fn registry() -> &'static [&'static dyn DynFigure] {
    REGISTRY
}

/// The registered figure with this id.
pub fn find(id: &str) -> Option<&'static dyn DynFigure> {
    registry().iter().copied().find(|f| f.id() == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_name_paper_and_number() {
        let ids: Vec<&str> = registry().iter().map(|f| f.id()).collect();
        assert_eq!(ids, ALL_IDS);
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "{ids:?}");
        for figure in registry() {
            let meta = figure.meta();
            if !matches!(
                meta.paper,
                crate::figure::Paper::Attnflow | crate::figure::Paper::Frontier
            ) {
                assert_eq!(meta.id, format!("{}-fig{}", meta.paper.slug(), meta.number));
            }
            assert!(
                !meta.claim.is_empty() && !meta.title.is_empty(),
                "{}",
                meta.id
            );
            for rule in meta.tolerances {
                assert!(
                    rule.abs >= 0.0 && rule.rel >= 0.0,
                    "{} {}",
                    meta.id,
                    rule.path
                );
            }
        }
    }
}
