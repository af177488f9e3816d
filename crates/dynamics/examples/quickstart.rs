// The README's "Use it as a library" program: 32 tokens on S^2 under SA attention with beta = 4
// ([GLPR] (2.3)), integrated by RK4 + projection from a seeded uniform start; prints the number
// of clusters and the interaction energy E_beta ([GLPR] (3.5)) at t = 0, 5, ..., 30.
use attnflow_dynamics::{
    ModelKind, Rk4, SelfAttention, Solver, observables,
    sampling::{self, Purpose},
};

fn main() -> Result<(), attnflow_dynamics::DynamicsError> {
    let beta = 4.0;
    let field = SelfAttention::builder()
        .model(ModelKind::Sa)
        .beta(beta)
        .build()?;
    let x0 = sampling::uniform_sphere(
        32,
        3,
        &mut sampling::stream(7, 0, Purpose::InitialCondition),
    )?;
    let mut solver = Solver::new(&field, Rk4::default(), &x0, 0.05)?;
    for t in [0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0] {
        solver.advance_to(t)?;
        let x = solver.state().to_configuration()?;
        let clusters = observables::cluster_count(&x.gram(), x.n(), 1e-3);
        let energy = observables::energy(&x, beta)?;
        println!("t = {t:4}: {clusters:2} clusters, energy {energy:.6}");
    }
    println!("{:?}", solver.stats());
    Ok(())
}
