//! The figure registry: one module per figure id, and the table xtask iterates over.

pub mod bkkrw_fig1;
pub mod bkkrw_fig2;
pub mod bkkrw_fig3;
pub mod bkkrw_fig4;
pub mod bkkrw_fig5;
pub mod bkkrw_fig6;
pub mod bkkrw_fig7;
pub mod glpr_fig1;
pub mod glpr_fig2;
pub mod glpr_fig3;
pub mod glpr_fig4;
pub mod glpr_fig5;
pub mod glpr_fig6;
pub mod phase;
pub mod surrogate_views;
pub mod theory;

use crate::figure::{DynFigure, Registered};

static GLPR_FIG1: Registered<glpr_fig1::GlprFig1> = Registered::new();
static GLPR_FIG2: Registered<glpr_fig2::GlprFig2> = Registered::new();
static GLPR_FIG3: Registered<glpr_fig3::GlprFig3> = Registered::new();
static GLPR_FIG4: Registered<glpr_fig4::GlprFig4> = Registered::new();
static GLPR_FIG5: Registered<glpr_fig5::GlprFig5> = Registered::new();
static GLPR_FIG6: Registered<glpr_fig6::GlprFig6> = Registered::new();
static BKKRW_FIG1: Registered<bkkrw_fig1::BkkrwFig1> = Registered::new();
static BKKRW_FIG2: Registered<bkkrw_fig2::BkkrwFig2> = Registered::new();
static BKKRW_FIG3: Registered<bkkrw_fig3::BkkrwFig3> = Registered::new();
static BKKRW_FIG4: Registered<bkkrw_fig4::BkkrwFig4> = Registered::new();
static BKKRW_FIG5: Registered<bkkrw_fig5::BkkrwFig5> = Registered::new();
static BKKRW_FIG6: Registered<bkkrw_fig6::BkkrwFig6> = Registered::new();
static BKKRW_FIG7: Registered<bkkrw_fig7::BkkrwFig7> = Registered::new();

/// Every implemented figure, in presentation order.
pub fn registry() -> Vec<&'static dyn DynFigure> {
    vec![
        &GLPR_FIG1,
        &GLPR_FIG2,
        &GLPR_FIG3,
        &GLPR_FIG4,
        &GLPR_FIG5,
        &GLPR_FIG6,
        &BKKRW_FIG1,
        &BKKRW_FIG2,
        &BKKRW_FIG3,
        &BKKRW_FIG4,
        &BKKRW_FIG5,
        &BKKRW_FIG6,
        &BKKRW_FIG7,
    ]
}

/// Every figure id of the two papers, in presentation order.
pub const ALL_IDS: [&str; 13] = [
    "glpr-fig1",
    "glpr-fig2",
    "glpr-fig3",
    "glpr-fig4",
    "glpr-fig5",
    "glpr-fig6",
    "bkkrw-fig1",
    "bkkrw-fig2",
    "bkkrw-fig3",
    "bkkrw-fig4",
    "bkkrw-fig5",
    "bkkrw-fig6",
    "bkkrw-fig7",
];

/// The registered figure with this id.
pub fn find(id: &str) -> Option<&'static dyn DynFigure> {
    registry().into_iter().find(|f| f.id() == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_ids_are_unique_known_and_ordered() {
        let ids: Vec<&str> = registry().iter().map(|f| f.id()).collect();
        let positions: Vec<usize> = ids
            .iter()
            .map(|id| ALL_IDS.iter().position(|a| a == id).expect("known id"))
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    }
}
